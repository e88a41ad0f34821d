import { SSMClient } from '@aws-sdk/client-ssm';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createSsmClient = (): SSMClient => traced(attachUsageMeter(new SSMClient(commonClientConfig())));
