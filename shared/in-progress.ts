/**
 * How many requests this process is serving right now: the API counts them (api/app.ts), and the
 * acceptance group committer reads it to decide whether waiting for company is worth it.
 */
let serving = 0;

export const requestsInProgress = {
  enter(): void {
    serving++;
  },
  leave(): void {
    serving--;
  },
  get count(): number {
    return serving;
  },
};
