import { SQSClient } from '@aws-sdk/client-sqs';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createSqsClient = (): SQSClient => traced(attachUsageMeter(new SQSClient(commonClientConfig())));
