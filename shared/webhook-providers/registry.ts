import { genericProvider } from './generic';
import { githubProvider } from './github';
import { gitlabProvider } from './gitlab';
import type { WebhookProvider } from './types';

/**
 * Every webhook provider a deployment accepts. Adding one is a file beside these (delivery id,
 * verify, normalize) and a line here: the route, the secrets API, the `webhook` step kind and
 * the reactions all take their list of names from this registry.
 */
const providers = [githubProvider, gitlabProvider, genericProvider] as const;

export type WebhookProviderName = (typeof providers)[number]['name'];

/** The providers' names, in registry order (for zod enums and the OpenAPI document). */
export const webhookProviderNames = providers.map((provider) => provider.name) as [WebhookProviderName, ...WebhookProviderName[]];

const byName = Object.fromEntries(providers.map((provider) => [provider.name, provider])) as Record<WebhookProviderName, WebhookProvider>;

/** The provider of that name (a name parsed with `z.enum(webhookProviderNames)`). */
export const webhookProvider = (name: WebhookProviderName): WebhookProvider => byName[name];

export type { WebhookHeaders, WebhookProvider, WebhookVerdict } from './types';
