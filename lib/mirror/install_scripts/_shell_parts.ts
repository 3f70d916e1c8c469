/**
 * Shell fragments the two install scripts share (folder-private). Everything is POSIX sh: the
 * scripts must run under dash, busybox ash and bash alike.
 *
 * @module
 */

/** Files the scripts may fetch, with the SHA-256 the clone verified them to have. */
export interface ScriptFiles {
  /** "ferry-linux-amd64.tar.gz" → sha256, "tiup-darwin-arm64.tar.gz" → sha256, … */
  tarballs: Record<string, string>;
  /** SHA-256 of the mirror's root.json. */
  rootSha256: string;
}

/** Single-quotes a value for sh: 'it'\''s'. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `expected_sha256 NAME` prints the SHA-256 the clone recorded for NAME (empty if none). */
export function expectedHashFunction(files: ScriptFiles): string {
  const cases = Object.entries({ ...files.tarballs, "root.json": files.rootSha256 })
    .filter(([name, sha]) => /^[A-Za-z0-9._-]+$/.test(name) && /^[0-9a-f]{64}$/.test(sha))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, sha]) => `    ${name}) echo ${sha} ;;`);
  return [
    "expected_sha256() {",
    '  case "$1" in',
    ...cases,
    "    *) echo '' ;;",
    "  esac",
    "}",
  ].join("\n");
}

/** Detection of os/arch, sha256 checking and the PATH edit, shared by both scripts. */
export const COMMON_FUNCTIONS = `fail() {
  echo "Error: $*" >&2
  exit 1
}

detect_platform() {
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) fail "this system ($(uname -s)) is not supported: only Linux and macOS are" ;;
  esac
  case "$(uname -m)" in
    amd64 | x86_64) arch=amd64 ;;
    arm64 | aarch64) arch=arm64 ;;
    *) fail "this architecture ($(uname -m)) is not supported: only amd64 and arm64 are" ;;
  esac
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    echo ''
  fi
}

# check_file FILE NAME: FILE must have the SHA-256 the clone recorded for NAME.
check_file() {
  want=$(expected_sha256 "$2")
  [ -n "$want" ] || return 0
  got=$(sha256_of "$1")
  if [ -z "$got" ]; then
    echo "Note: no sha256sum or shasum here; $2 is not checked" >&2
    return 0
  fi
  [ "$got" = "$want" ] || fail "$2 is damaged (sha256 $got, expected $want): copy the mirror again"
}

# write_config HOME MIRROR: the profile's mirror setting, as \`ferry mirror set\` writes it.
write_config() {
  escaped=$(printf '%s' "$2" | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g')
  printf 'mirror = "%s"\\n' "$escaped" >"$1/ferry.toml"
}

# add_to_path BIN_DIR: appends an export to the shell's profile once; sets PROFILE.
add_to_path() {
  shell=$(basename "\${SHELL:-sh}")
  PROFILE="$HOME/.profile"
  for candidate in "$HOME/.\${shell}_profile" "$HOME/.\${shell}_login" "$HOME/.\${shell}rc"; do
    if [ -f "$candidate" ]; then
      PROFILE=$candidate
      break
    fi
  done
  if ! grep -F "export PATH=$1:" "$PROFILE" >/dev/null 2>&1; then
    printf '\\nexport PATH=%s:$PATH\\n' "$1" >>"$PROFILE"
  fi
}`;
