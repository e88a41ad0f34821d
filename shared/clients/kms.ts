import { KMSClient } from '@aws-sdk/client-kms';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createKmsClient = (): KMSClient => traced(attachUsageMeter(new KMSClient(commonClientConfig())));
