#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { ConfigError, loadConfig } from '../config/config.js';
import { createHub } from '../main.js';
import { benchStrategiesCommand } from './bench-strategies-command.js';
import { optimizeCommand } from './optimize-command.js';

const USAGE = `caspian — carbon-aware scheduling of batch jobs across Kubernetes clusters

Usage: caspian <command> [options]

Commands:
  serve                     start the hub (HTTP API, schedule/dispatch/carbon loops)
                            configuration: CASPIAN_CONFIG=<file.json> and CASPIAN_* variables (see README)
  optimize INPUT.json       solve one placement problem and print the plan as JSON
           [--solver auto|<name>] [--time-limit SECONDS]
  bench strategies          run every scheduling strategy over one workload in simulated hubs; print the table
           [--workload synthetic|alibaba:FILE|google:FILE] [--jobs N] [--days D] [--seed S]
           [--strategies fcfs,round-robin,...] [--out DIR]   (see README: Strategy benchmark)
  help, --help              show this text
`;

/** Longest SIGTERM may wait for a running cycle before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 30_000;

async function serve(): Promise<number> {
  let hub;
  try {
    hub = await createHub(loadConfig());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`caspian: ${error.message}`);
      return 2;
    }
    throw error;
  }
  let stopping = false;
  /** Stops the hub, then exits with `code` (1 when it did not stop cleanly). */
  const shutdown = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    // Armed first: nothing below (a log line to a stdout nobody reads any more) may keep the bound from holding.
    const force = setTimeout(() => {
      hub.logger.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown took too long; exiting');
      hub.flushLogs();
      process.exit(1);
    }, SHUTDOWN_BOUND_MS);
    force.unref();
    hub.logger.info({ signal }, 'shutting down: finishing the running cycle');
    hub.stop().then(
      () => process.exit(code),
      (error: unknown) => {
        hub.logger.error({ err: error }, 'shutdown failed');
        hub.flushLogs();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (hub.config.store.exit_on_failure) {
    // Crash-only recovery: a restart reloads the file, whose committed state is whole; staying up would
    // only answer 503 to every change until someone restarts the hub by hand.
    void hub.storeFailure.then((reason) => {
      hub.logger.fatal({ reason }, 'the store failed: stopping with exit code 1 so that the supervisor restarts the hub and it reloads the data file');
      shutdown('store failure', 1);
    });
  }
  // Until the server listens, nothing may hold the event loop (the memory store has no writer thread, and the waits
  // of a start, such as a carbon provider's backoff, are unref'd): Node would end the process with code 0, silently.
  const starting = setInterval(() => undefined, 60_000);
  try {
    await hub.start();
  } catch (error) {
    // A signal during start-up: the shutdown under way exits.
    if (stopping) return -1;
    hub.logger.fatal({ err: error }, 'hub failed to start');
    await hub.stop().catch(() => undefined);
    hub.flushLogs();
    // A value of the configuration it cannot listen with exits as every bad value does.
    if (error instanceof ConfigError) {
      console.error(`caspian: ${error.message}`);
      return 2;
    }
    return 1;
  } finally {
    clearInterval(starting);
  }
  return -1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      if (rest.some((arg) => arg === '--help' || arg === '-h')) {
        process.stdout.write(USAGE);
        return 0;
      }
      // Configuration comes from CASPIAN_CONFIG and the environment only; a flag would otherwise be ignored
      // and a hub started with settings its operator did not mean.
      if (rest.length > 0) {
        process.stderr.write(`caspian serve: unexpected argument "${rest[0]}": configure the hub with CASPIAN_CONFIG and CASPIAN_* variables\n\n${USAGE}`);
        return 2;
      }
      return serve();
    case 'optimize':
      return optimizeCommand(rest, {
        stdout: (s) => process.stdout.write(s),
        stderr: (s) => process.stderr.write(s),
        readFile: (path) => readFile(path, 'utf8'),
      });
    case 'bench':
      if (rest[0] === '--help' || rest[0] === '-h') {
        process.stdout.write(USAGE);
        return 0;
      }
      if (rest[0] !== 'strategies') {
        process.stderr.write(`caspian bench: unknown benchmark "${rest[0] ?? ''}"; the one there is: strategies\n\n${USAGE}`);
        return 2;
      }
      return benchStrategiesCommand(rest.slice(1), {
        stdout: (s) => process.stdout.write(s),
        stderr: (s) => process.stderr.write(s),
        stderrIsTty: process.stderr.isTTY === true,
      });
    case undefined:
      // A usage error like any other: the usage goes where the errors go.
      process.stderr.write(`caspian: no command given\n\n${USAGE}`);
      return 2;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`caspian: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps running; every other command ends with its exit code.
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
