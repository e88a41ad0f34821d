import { KMSClient } from '@aws-sdk/client-kms';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';

export const createKmsClient = (): KMSClient => attachUsageMeter(new KMSClient(commonClientConfig()));
