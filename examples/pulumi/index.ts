// The program `pulumi up` runs at the repository root: the bundled sentiment example on a spot VM.
//   pulumi config set gcp:project my-project && pulumi config set gcp:zone us-central1-a
//   pulumi config set domain api.example.com   # optional; without it: https://<ip>.sslip.io
//   pulumi config set acmeEmail ops@example.com # optional: the certificate authorities' notices
//   pulumi config set running false             # park the model: VM stopped, no compute cost
//   pulumi config set replicas 2                # two spot VMs behind Google's load balancer (~$18/month more)
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { BudgetModel } from "../../index";

const config = new pulumi.Config();
const model = new BudgetModel("sentiment", {
  predictor: join(__dirname, "..", "sentiment", "predictor.ts"),
  requirements: ["sentiment@^5"],
  domain: config.get("domain"),
  acmeEmail: config.get("acmeEmail"),
  running: config.getBoolean("running"),
  replicas: config.getNumber("replicas"),
});

export const url = model.url;
export const docsUrl = model.docsUrl;
export const ipAddress = model.ipAddress;
export const username = model.username;
export const password = model.password;
export const monthlyCost = model.monthlyCost;
/** With a domain: the A record to create. */
export const dnsRecord = model.dnsRecord;
