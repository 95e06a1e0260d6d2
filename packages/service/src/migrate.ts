/**
 * drizzle's SQLite migrator reads the last applied migration before its (deferred) BEGIN, so two
 * processes opening a new database file at once can both decide to run migration 0: the second
 * waits on the first's write lock, then fails ("table … already exists") and rolls back. Its read
 * was stale, not the file: running the migrator again sees the applied migrations and does
 * nothing. Any other failure fails again the same way and is thrown after the last attempt.
 */
export function runMigrationsRacing(run: () => void, attempts = 3): void {
  for (let attempt = 1; ; attempt++) {
    try {
      run();
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
}
