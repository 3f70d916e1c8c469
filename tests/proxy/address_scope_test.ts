import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AddressScope, addressScope } from "../../proxy/address_scope.ts";

describe("addressScope()", () => {
  const table: [string, AddressScope][] = [
    ["8.8.8.8", "public"],
    ["93.184.216.34", "public"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", "public"],
    ["192.168.0.1", "private"],
    ["100.64.0.1", "private"],
    ["169.254.169.254", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "reserved"],
    ["255.255.255.255", "reserved"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["::", "unspecified"],
    ["::ffff:127.0.0.1", "loopback"],
    ["[::ffff:7f00:1]", "loopback"],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["::ffff:8.8.8.8", "public"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::10.0.0.1", "private"],
    ["2002:c0a8:0101::1", "private"],
    ["fd12:3456::1", "private"],
    ["fc00::1", "private"],
    ["fe80::1%eth0", "link-local"],
    ["fec0::1", "private"],
    ["ff02::1", "reserved"],
    ["2001:4860:4860::8888", "public"],
    ["1:2:3:4:5:6:7:8", "public"],
  ];
  for (const [address, scope] of table) {
    it(`classifies ${address} as ${scope}`, () => assert.equal(addressScope(address), scope));
  }

  it("throws a TypeError for a host name", () => {
    assert.throws(() => addressScope("localhost"), TypeError);
  });
});
