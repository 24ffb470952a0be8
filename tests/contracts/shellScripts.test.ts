import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ATTRIBUTES_FOLDER, METADATA_KEYS } from "../../contracts/instanceMetadata";

// The boot scripts are bash and cannot import the metadata contract: every key they read is
// checked against it here, so a renamed key cannot leave a script reading one nobody writes.

const VM = join(__dirname, "..", "..", "images", "vm");
const scripts = readdirSync(VM).filter((name) => name.endsWith(".sh"));

/** The metadata keys a script reads: `attribute KEY` (startup.sh's reader) or an `instance/attributes/KEY` path. */
function keysRead(script: string): string[] {
  const text = readFileSync(join(VM, script), "utf8");
  const calls = [...text.matchAll(/\battribute\s+([A-Za-z0-9_-]+)/g)].map((match) => match[1]);
  const paths = [...text.matchAll(new RegExp(`instance/${ATTRIBUTES_FOLDER}([A-Za-z0-9_-]+)`, "g"))].map(
    (match) => match[1],
  );
  return [...new Set([...calls, ...paths])].sort();
}

describe("the boot scripts' metadata keys", () => {
  it.each(scripts)("%s reads only keys of METADATA_KEYS", (script) => {
    const known = Object.values(METADATA_KEYS);
    expect(keysRead(script).filter((key) => !known.includes(key))).toEqual([]);
  });

  it("startup.sh reads the runtime bundle's location and the two switches of what it installs", () => {
    expect(keysRead("startup.sh")).toEqual(
      [METADATA_KEYS.bucket, METADATA_KEYS.runtimeObject, METADATA_KEYS.loadBalancer, METADATA_KEYS.image].sort(),
    );
    // …from where the metadata server serves them.
    expect(readFileSync(join(VM, "startup.sh"), "utf8")).toContain(`"instance/${ATTRIBUTES_FOLDER}$1"`);
  });
});
