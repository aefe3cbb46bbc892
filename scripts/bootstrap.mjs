#!/usr/bin/env node
// Obtains the project's toolchain (Node from .node-version, pnpm from package.json's
// packageManager) when the machine lacks it, installs the workspace, then runs a root
// script with that toolchain first on PATH. Plain JavaScript on purpose: it must run on
// whatever Node (>= 18) the machine has. See docs/adr/0001-toolchain-bootstrap.md.
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, '.tools');
const MIN_NODE = [22, 17];

const wantedNode = readFileSync(join(root, '.node-version'), 'utf8').trim();
const packageManager = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager;
const wantedPnpm = /^pnpm@(.+)$/.exec(packageManager)?.[1];
if (!wantedPnpm) fail(`package.json "packageManager" must be "pnpm@<version>", got ${packageManager}`);

const [script, ...args] = process.argv.slice(2);
if (!script) fail('usage: node scripts/bootstrap.mjs <root script> [args...]');

function fail(message) {
  console.error(`bootstrap: ${message}`);
  process.exit(1);
}

function log(message) {
  console.error(`bootstrap: ${message}`);
}

function run(command, commandArgs, env) {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit', env });
  if (result.error) fail(`${command} could not start: ${result.error.message}`);
  return result.status ?? 1;
}

function versionOf(command, env) {
  const result = spawnSync(command, ['--version'], { encoding: 'utf8', env });
  return result.status === 0 ? result.stdout.trim().replace(/^v/, '') : undefined;
}

function satisfiesMinimum(version) {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

function installTools(packages) {
  log(`installing ${packages.join(' ')} into .tools/ from the npm registry`);
  // --ignore-scripts is safe: the node package ships its binary in a platform dependency.
  const status = run('npm', ['install', '--prefix', toolsDir, '--no-audit', '--no-fund', '--loglevel=error', ...packages], process.env);
  if (status !== 0) fail(`npm install ${packages.join(' ')} failed (exit ${status})`);
}

const toolsNodeBin = join(toolsDir, 'node_modules', 'node', 'bin');
const toolsBin = join(toolsDir, 'node_modules', '.bin');
const needNode = !satisfiesMinimum(process.versions.node);
const missing = [];
if (needNode && versionOf(join(toolsNodeBin, 'node')) !== wantedNode) missing.push(`node@${wantedNode}`);
if (versionOf(join(toolsBin, 'pnpm')) !== wantedPnpm) missing.push(`pnpm@${wantedPnpm}`);
if (missing.length > 0) installTools(missing);

const nodeDir = needNode ? toolsNodeBin : dirname(process.execPath);
const env = {
  ...process.env,
  PATH: [nodeDir, toolsBin, process.env.PATH ?? ''].join(delimiter),
  COREPACK_ENABLE_STRICT: '0',
  npm_config_manage_package_manager_versions: 'false',
};
const nodeVersion = versionOf('node', env);
if (!nodeVersion || !satisfiesMinimum(nodeVersion)) fail(`Node ${nodeVersion ?? '(none)'} on PATH after bootstrap; need >= ${MIN_NODE.join('.')}`);

// The web app's end-to-end tests drive a Chromium the machine has: Debian's package, installed
// here when missing and we may (root with apt-get), or the one CHROMIUM_PATH names.
const BROWSERS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
function ensureBrowser() {
  if (env.CHROMIUM_PATH) {
    if (!existsSync(env.CHROMIUM_PATH)) fail(`CHROMIUM_PATH=${env.CHROMIUM_PATH} does not exist`);
    return;
  }
  let found = BROWSERS.find((path) => existsSync(path));
  if (!found) {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
      fail(`the browser tests need Chromium: install Debian's package (sudo apt-get install chromium) or set CHROMIUM_PATH`);
    }
    log("installing Debian's chromium for the browser tests (apt-get)");
    const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (run('apt-get', ['update', '-qq'], aptEnv) !== 0) fail('apt-get update failed');
    if (run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium', 'fonts-dejavu-core'], aptEnv) !== 0) fail('apt-get install chromium failed');
    found = BROWSERS.find((path) => existsSync(path));
    if (!found) fail('chromium was installed but /usr/bin/chromium is missing');
  }
  env.CHROMIUM_PATH = found;
}
if (script === 'check' || script === 'test:all') ensureBrowser();

const installed = existsSync(join(root, 'node_modules', '.modules.yaml'));
const installArgs = ['install', '--frozen-lockfile', '--prefer-offline', ...(installed ? ['--reporter=silent'] : [])];
const installStatus = run('pnpm', installArgs, env);
if (installStatus !== 0) fail(`pnpm install failed (exit ${installStatus})`);

// The script runs as a child that this process waits for: Ctrl+C reaches the whole process group
// and each part stops itself, so this process outlives it and reports how it ended; a signal sent
// to this process alone (a supervisor's SIGTERM) is passed on.
const child = spawn('pnpm', ['run', script, ...args], { cwd: root, stdio: 'inherit', env });
child.once('error', (error) => fail(`pnpm could not start: ${error.message}`));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.once('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
