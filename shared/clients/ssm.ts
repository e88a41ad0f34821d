import { SSMClient } from '@aws-sdk/client-ssm';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';

export const createSsmClient = (): SSMClient => attachUsageMeter(new SSMClient(commonClientConfig()));
