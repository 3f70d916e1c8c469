/**
 * What the seeds' custom-component walkthrough (seeds 001/002) builds, shared by the e2e tests
 * that replay it: the C hello world and the host's platform as package file names spell it.
 *
 * @module
 */

/** The host platform as `ferry package` names tarballs: `linux-amd64`, `darwin-arm64`. */
export const HOST: string = `${process.platform === "darwin" ? "darwin" : "linux"}-${
  process.arch === "arm64" ? "arm64" : "amd64"
}`;

/** The walkthrough's hello.c: prints "hello" and ignores its arguments. */
export const HELLO_C = `#include <stdio.h>
int main() {
  printf("hello\\n");
  return (0);
}
`;
