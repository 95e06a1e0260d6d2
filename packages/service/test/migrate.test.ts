import { describe, expect, it } from "vitest";
import { runMigrationsRacing } from "../src/migrate.js";

describe("runMigrationsRacing", () => {
  it("a run that lost the race once (stale read) is retried and succeeds", () => {
    let calls = 0;
    runMigrationsRacing(() => {
      calls++;
      if (calls === 1) throw new Error("table `apps` already exists");
    });
    expect(calls).toBe(2);
  });

  it("a run that keeps failing throws its own error after the last attempt, never silently", () => {
    let calls = 0;
    expect(() =>
      runMigrationsRacing(() => {
        calls++;
        throw new Error(`broken migration ${calls}`);
      }, 3),
    ).toThrow("broken migration 3");
    expect(calls).toBe(3);
  });
});
