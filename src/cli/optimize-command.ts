import { parseArgs } from 'node:util';
import { optimize, OptimizeInputError, solverNames } from '../optimizer/index.js';
import { withoutBom } from '../domain/bom.js';

/** What the command needs from the outside world, so tests can run it without a terminal or files. */
export interface OptimizeCommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readFile: (path: string) => Promise<string>;
}

/** Exit codes: 0 a plan was printed (also a partial one) or the usage asked for, 1 unexpected failure, 2 bad arguments or input. */
const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function usage(): string {
  return `usage: caspian optimize INPUT.json [--solver auto|${solverNames().join('|')}] [--time-limit SECONDS]`;
}

/** `caspian optimize INPUT.json [--solver NAME] [--time-limit SECONDS]`: prints the `OptimizeOutput` JSON. */
export async function optimizeCommand(args: string[], io: OptimizeCommandIo): Promise<number> {
  let path: string;
  let solver: string;
  let timeLimitSeconds: number | undefined;
  if (args.some((arg) => arg === '--help' || arg === '-h')) {
    io.stdout(`${usage()}\n`);
    return EXIT_OK;
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        solver: { type: 'string', default: 'auto' },
        'time-limit': { type: 'string' },
      },
    });
    if (positionals.length !== 1) throw new Error(`expected one INPUT.json, got ${positionals.length} arguments`);
    path = positionals[0]!;
    solver = values.solver;
    if (solver !== 'auto' && !solverNames().includes(solver)) {
      throw new Error(`unknown solver "${solver}"`);
    }
    if (values['time-limit'] !== undefined) {
      timeLimitSeconds = Number(values['time-limit']);
      if (!Number.isFinite(timeLimitSeconds) || timeLimitSeconds <= 0) {
        throw new Error(`--time-limit must be a number of seconds > 0, got "${values['time-limit']}"`);
      }
    }
  } catch (error) {
    io.stderr(`caspian optimize: ${(error as Error).message}\n${usage()}\n`);
    return EXIT_USAGE;
  }

  let raw: unknown;
  try {
    raw = JSON.parse(withoutBom(await io.readFile(path)));
  } catch (error) {
    const why = error instanceof SyntaxError ? `is not valid JSON: ${error.message}` : `cannot be read: ${(error as Error).message}`;
    io.stderr(`caspian optimize: ${path} ${why}\n`);
    return EXIT_USAGE;
  }

  try {
    const output = await optimize(raw, timeLimitSeconds === undefined ? { solver } : { solver, timeLimitSeconds });
    io.stdout(`${JSON.stringify(output, null, 2)}\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof OptimizeInputError) {
      const lines = error.issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`);
      io.stderr(`caspian optimize: ${path} is not a valid optimizer input:\n${lines.join('\n')}\n`);
      return EXIT_USAGE;
    }
    io.stderr(`caspian optimize: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
}
