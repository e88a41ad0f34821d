import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';

export const createSecretsClient = (): SecretsManagerClient => attachUsageMeter(new SecretsManagerClient(commonClientConfig()));
