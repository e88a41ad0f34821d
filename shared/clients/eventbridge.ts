import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';

export const createEventBridgeClient = (): EventBridgeClient => attachUsageMeter(new EventBridgeClient(commonClientConfig()));
