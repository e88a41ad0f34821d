/**
 * Where the console finds the API and who is signed in. The API URL comes from `config.json`,
 * written next to the bundle at deploy time (so one build serves every stage). The token lives in
 * sessionStorage only: it is gone when the browser tab closes and never reaches a cookie, a URL or
 * localStorage.
 */
export interface ConsoleConfig {
  apiUrl: string;
  stage?: string;
}

const tokenKey = 'baton.token';
const projectKey = 'baton.project';

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch('./config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json answered ${response.status}: the console was deployed without its configuration`);
  const config = (await response.json()) as Partial<ConsoleConfig>;
  if (typeof config.apiUrl !== 'string' || !/^https?:\/\//.test(config.apiUrl)) throw new Error('config.json has no valid apiUrl');
  return { ...config, apiUrl: config.apiUrl.replace(/\/$/, '') };
}

export const savedToken = (): string | null => sessionStorage.getItem(tokenKey);
export const saveToken = (token: string): void => sessionStorage.setItem(tokenKey, token);
/** The project an installation token is looking at (project tokens have exactly one). */
export const savedProject = (): string | null => sessionStorage.getItem(projectKey);
export const saveProject = (projectId: string): void => sessionStorage.setItem(projectKey, projectId);
export const forgetProject = (): void => sessionStorage.removeItem(projectKey);
export const forgetSession = (): void => {
  sessionStorage.removeItem(tokenKey);
  sessionStorage.removeItem(projectKey);
};
