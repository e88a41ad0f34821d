/**
 * Realistic plan CSVs of any length, shaped like the user's seed: consecutive dates from
 * 2027-01-01, quoted cells with commas and quotes, and dependencies that mix chains with fan-in.
 */

export const planHeader = 'Day,Date,Theme,VOT Name,Primary Deliverable,Key Metrics (template),Status,Dependencies (Day #)';

const themes = ['Research', 'Build', 'Review', 'Write', 'Ship'] as const;
const roles = ['Researcher', 'Builder', 'Reviewer', 'Writer', 'Publisher'] as const;

/** The days a generated plan's `day` waits for: the day before, and every third day the week before too. */
export const generatedDependencies = (day: number, { cycle = false }: { cycle?: boolean } = {}): number[] => {
  const days = day > 1 ? [day - 1] : [];
  if (day > 7 && day % 3 === 0) days.push(day - 7);
  // Day 3 also waiting for day 5 closes 3 → 4 → 5 → 3.
  if (cycle && day === 3) days.push(5);
  return days;
};

/** A plan CSV of `days` rows; with `cycle`, days 3, 4 and 5 wait for each other in a loop. */
export const generatePlanCsv = (days: number, { cycle = false }: { cycle?: boolean } = {}): string => {
  if (cycle && days < 5) throw new Error('a plan with a cycle needs at least 5 days');
  const rows = Array.from({ length: days }, (_, index) => planRow(index + 1, generatedDependencies(index + 1, { cycle })));
  return `${[planHeader, ...rows].join('\n')}\n`;
};

const planRow = (day: number, dependencies: readonly number[]): string => {
  const theme = themes[day % themes.length] ?? 'Build';
  const role = roles[day % roles.length] ?? 'Builder';
  return [
    String(day),
    dateOfDay(day),
    theme,
    role,
    quote(`${theme} notes for day ${day}, with "highlights" and links`),
    quote(`tokens={tokens}; files_created={files}`),
    day <= 3 ? 'Done' : 'Open',
    formatDependencies(day, dependencies),
  ].join(',');
};

const dateOfDay = (day: number): string => new Date(Date.UTC(2027, 0, day)).toISOString().slice(0, 10);

const quote = (cell: string): string => `"${cell.replaceAll('"', '""')}"`;

/** Rotates through the separators people type: `"2; 3"`, `"2,5"`, `6 7`. */
const formatDependencies = (day: number, dependencies: readonly number[]): string => {
  if (dependencies.length < 2) return dependencies.join('');
  switch (day % 3) {
    case 0:
      return quote(dependencies.join('; '));
    case 1:
      return quote(dependencies.join(','));
    default:
      return dependencies.join(' ');
  }
};
