import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";

/** The Google APIs a deployment uses. */
export const REQUIRED_APIS = [
  // The provider reads and changes project IAM policies through Resource Manager.
  "cloudresourcemanager.googleapis.com",
  "compute.googleapis.com",
  "storage.googleapis.com",
  "secretmanager.googleapis.com",
  "pubsub.googleapis.com",
  "cloudfunctions.googleapis.com",
  "cloudbuild.googleapis.com",
  "run.googleapis.com",
  "eventarc.googleapis.com",
  "cloudscheduler.googleapis.com",
  "artifactregistry.googleapis.com",
  "iam.googleapis.com",
  "logging.googleapis.com",
];

/**
 * Enables the APIs. `disableOnDestroy: false`: other stacks in the same project may use them, so
 * destroying this model must never switch them off.
 */
export function enableApis(name: string, project: string, parent: pulumi.ComponentResource): pulumi.Resource[] {
  return REQUIRED_APIS.map(
    (service) =>
      new gcp.projects.Service(
        `${name}-api-${service.split(".")[0]}`,
        { project, service, disableOnDestroy: false, disableDependentServices: false },
        { parent },
      ),
  );
}
