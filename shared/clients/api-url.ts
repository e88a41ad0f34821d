import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { reachableApiUrl } from '#shared/config/emulator-gaps';

/**
 * The API's base URL, read once from the SSM parameter the API stack writes (the engine stack is
 * built before the API stack, so the worker cannot be given it at deploy: docs/ARCHITECTURE.md,
 * "Callbacks"). Read on first use and kept; a failed read is tried again next time.
 */
export const apiUrlFromParameter = (ssm: SSMClient, name: string, emulatorEndpoint: string | undefined): (() => Promise<string>) => {
  let url: Promise<string> | undefined;
  return () =>
    (url ??= ssm.send(new GetParameterCommand({ Name: name })).then(
      ({ Parameter }) => {
        if (!Parameter?.Value) throw new Error(`SSM parameter ${name} has no value`);
        return reachableApiUrl(Parameter.Value, emulatorEndpoint);
      },
      (error: unknown) => {
        url = undefined;
        throw error;
      },
    ));
};
