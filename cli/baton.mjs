#!/usr/bin/env node
// The `baton` command (package.json "bin"): `npx baton …` in a clone after `npm ci`. Plain Node
// that registers tsx (a devDependency the repository already runs its scripts with), so the
// TypeScript in cli/ runs as it is: no build step, nothing installed globally.
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`baton needs Node.js 20 or newer; this is ${process.version}.`);
  process.exit(1);
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  console.error('baton: its dependencies are missing; run `npm ci` in the Baton clone first.');
  process.exit(1);
}
register();
await import('./main.ts');
