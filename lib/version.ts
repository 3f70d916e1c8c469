/** ferry's version, printed by `ferry --version` and sent as the User-Agent. */
export const FERRY_VERSION = "0.1.0";
