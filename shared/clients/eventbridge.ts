import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createEventBridgeClient = (): EventBridgeClient => traced(attachUsageMeter(new EventBridgeClient(commonClientConfig())));
