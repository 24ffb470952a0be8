import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { launchLocalProgram } from "../../local/localProgram";
import { resolveProgram } from "../../local/programFile";
import { deploymentRoot } from "../support/localDeployment";

const ROOT = join(__dirname, "..", "..");

describe("launchLocalProgram", () => {
  it("materialises what a program declares, serves no model when it declares none, and leaves process.env as it was", async () => {
    const envBefore = { ...process.env };
    const lines: string[] = [];
    let bucketDir = "";
    const deployment = await launchLocalProgram({
      program: () => {
        const bucket = new gcp.storage.Bucket("data", { name: "my-data", location: "US" });
        new gcp.storage.BucketObject("readme", {
          bucket: bucket.name,
          name: "README.md",
          source: new pulumi.asset.FileAsset(join(ROOT, "README.md")),
        });
        new gcp.pubsub.Topic("events", { name: "events" });
      },
      report: (line) => {
        lines.push(line);
        if (line.startsWith("budgetml local: working in ")) bucketDir = deploymentRoot(line);
      },
    });
    try {
      expect(deployment.models).toEqual([]);
      expect(deployment.declared).toEqual(
        expect.arrayContaining([
          "gcp:storage/bucket:Bucket data",
          "gcp:storage/bucketObject:BucketObject readme",
          "gcp:pubsub/topic:Topic events",
        ]),
      );
      expect(readFileSync(join(bucketDir, "buckets", "my-data", "README.md"), "utf8")).toBe(
        readFileSync(join(ROOT, "README.md"), "utf8"),
      );
      expect(lines).toContain("budgetml local: 3 resources declared; 0 instance(s), 0 function(s), 0 scheduler job(s)");
    } finally {
      await deployment.stop();
    }
    expect(existsSync(bucketDir)).toBe(false);
    expect(process.env).toEqual(envBefore);
  }, 60_000);
});

describe("resolveProgram", () => {
  it("finds the entry as pulumi up does: a file, a folder's Pulumi.yaml main, a folder's index.ts", () => {
    expect(resolveProgram(join(ROOT, "Pulumi.yaml"))).toEqual({
      entry: join(ROOT, "examples", "pulumi", "index.ts"),
      project: "budgetml-example",
    });
    expect(resolveProgram(ROOT)).toEqual({
      entry: join(ROOT, "examples", "pulumi", "index.ts"),
      project: "budgetml-example",
    });
    expect(resolveProgram(join(ROOT, "tests", "fixtures", "programs", "twoModels"))).toEqual({
      entry: join(ROOT, "tests", "fixtures", "programs", "twoModels", "index.ts"),
      project: "two-models",
    });
    expect(resolveProgram(join(ROOT, "examples", "pulumi", "index.ts"))).toEqual({
      entry: join(ROOT, "examples", "pulumi", "index.ts"),
      project: undefined,
    });
  });

  it("says what is missing", () => {
    expect(() => resolveProgram("no/such/place")).toThrow("program not found: no/such/place");
    expect(() => resolveProgram(join(ROOT, "README.md"))).toThrow(
      /program: expected a \.ts or \.js file, got .*README\.md/,
    );
  });
});
