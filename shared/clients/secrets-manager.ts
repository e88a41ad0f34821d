import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createSecretsClient = (): SecretsManagerClient => traced(attachUsageMeter(new SecretsManagerClient(commonClientConfig())));
