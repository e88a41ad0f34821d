import { SQSClient } from '@aws-sdk/client-sqs';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';

export const createSqsClient = (): SQSClient => attachUsageMeter(new SQSClient(commonClientConfig()));
