import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';
import { traced } from '#shared/middleware/tracer';

export const createSchedulerClient = (): SchedulerClient => traced(attachUsageMeter(new SchedulerClient(commonClientConfig())));
