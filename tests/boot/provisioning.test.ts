import { METADATA_KEYS } from "../../contracts/instanceMetadata";
import { schedulingFor, schedulingSwitch, mergeScheduling } from "../../contracts/scheduling";
import { runtimeEnv } from "../../images/vm/boot";
import { readBootConfig } from "../../images/vm/bootConfig";
import { useMetadataStandIn } from "../support/metadataStandIn";

// The VM learns how it is provisioned from its metadata server's `instance/scheduling/` at boot
// (the restarter switches it only while it is stopped, so every boot sees the current model) and
// hands it to the runtime, whose health answer reports it.

// Every key the boot requires, with a placeholder value: only the scheduling matters here.
const metadata = useMetadataStandIn({
  attributes: Object.fromEntries(Object.values(METADATA_KEYS).map((key) => [key, "x"])),
  scheduling: schedulingFor("spot"),
});

it("reads the provisioning model the VM runs as at boot, and passes it to the runtime", async () => {
  expect((await readBootConfig()).provisioning).toBe("spot");
  // What a switch to standard for lack of spot capacity leaves on the stopped VM, seen at its next boot.
  metadata().setScheduling(mergeScheduling(schedulingFor("spot"), schedulingSwitch("standard")));
  const config = await readBootConfig();
  expect(config.provisioning).toBe("standard");
  expect(runtimeEnv(config, { password: "pw", signingKey: "k".repeat(32) })).toMatchObject({
    BUDGET_PROVISIONING: "standard",
  });
  metadata().setScheduling(schedulingFor("preemptible"));
  expect((await readBootConfig()).provisioning).toBe("preemptible");
});
