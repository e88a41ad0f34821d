import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { commonClientConfig } from '#shared/clients/common';
import { attachUsageMeter } from '#shared/clients/usage-meter';

export const createSchedulerClient = (): SchedulerClient => attachUsageMeter(new SchedulerClient(commonClientConfig()));
