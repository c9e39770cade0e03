/** One problem found in an optimizer input; `path` names the field, e.g. `jobs[3].deadline_slot (job "a")`. */
export interface InputIssue {
  path: string;
  message: string;
}

/**
 * The input (or the options) given to `optimize()` cannot be solved as written. Carries every issue found, so
 * a caller can show them all at once; the API maps it to a 400 and the command line to exit code 2.
 */
export class OptimizeInputError extends Error {
  override readonly name = 'OptimizeInputError';
  readonly issues: InputIssue[];

  constructor(issues: InputIssue[]) {
    super(summarise(issues));
    this.issues = issues;
  }
}

const SHOWN_IN_MESSAGE = 5;

function summarise(issues: InputIssue[]): string {
  const shown = issues.slice(0, SHOWN_IN_MESSAGE).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  const more = issues.length > SHOWN_IN_MESSAGE ? `; and ${issues.length - SHOWN_IN_MESSAGE} more` : '';
  return `invalid optimize input: ${shown.join('; ')}${more}`;
}
