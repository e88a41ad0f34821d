import { describe, expect, it } from 'vitest';
import { createRunBody } from '#shared/schemas/runs';
import { branchRunsPrefix } from '#shared/store/keys';

const gitOf = (git: unknown) => createRunBody.safeParse({ workflowId: 'wf_01m80dyeycgv09sbctjqv5856b', git });

describe('a run mapped to a branch', () => {
  it('accepts GitHub and nested GitLab repositories with ordinary branch names', () => {
    expect(gitOf({ repository: 'acme/app', branch: 'feat/login-#42' }).success).toBe(true);
    expect(gitOf({ repository: 'group/sub.group/project_1', branch: 'release-1.2' }).success).toBe(true);
  });

  it.each([
    [{ repository: 'app', branch: 'main' }, 'repository'],
    [{ repository: 'acme/app', branch: 'has space' }, 'branch'],
    [{ repository: 'acme/app', branch: 'a\u0007bell' }, 'branch'],
    [{ repository: 'acme/app', branch: '' }, 'branch'],
    [{ repository: 'acme/app', branch: 'main', extra: 1 }, ''],
  ])('refuses %j at %s', (git, field) => {
    const result = gitOf(git);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path.join('.')).toBe(['git', field].filter(Boolean).join('.'));
  });

  it('drops a leading refs/heads/, as CI deliveries name branches without it', () => {
    expect(gitOf({ repository: 'acme/app', branch: 'refs/heads/feat/x' }).data?.git).toEqual({ repository: 'acme/app', branch: 'feat/x' });
  });

  it('files runs under the repository case-insensitively and the branch exactly, with separators escaped', () => {
    expect(branchRunsPrefix('Acme/App', 'main')).toBe(branchRunsPrefix('acme/app', 'main'));
    expect(branchRunsPrefix('acme/app', 'Main')).not.toBe(branchRunsPrefix('acme/app', 'main'));
    // A branch containing '#' cannot reach into another branch's prefix.
    expect(branchRunsPrefix('acme/app', 'a#b').startsWith(branchRunsPrefix('acme/app', 'a'))).toBe(false);
  });
});
