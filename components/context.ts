import type * as pulumi from "@pulumi/pulumi";

/** What every group of children needs: where it lives, how it is named, what it waits for. */
export interface ModelContext {
  /** The component's name, used for child names `${name}-<role>`. */
  name: string;
  parent: pulumi.ComponentResource;
  /** Lowercase, dash-separated form of `name` for Google resource ids. */
  slug: string;
  /** Random hex kept in state: makes project- and globally-scoped ids unique per model and stack. */
  suffix: pulumi.Output<string>;
  project: string;
  region: string;
  zone: string;
  labels: Record<string, string>;
  /** The API enablements children must wait for. */
  apis: pulumi.Resource[];
}

/** Options for a child: parented to the component and waiting for the APIs. */
export function childOptions(
  ctx: ModelContext,
  extra: pulumi.CustomResourceOptions = {},
): pulumi.CustomResourceOptions {
  return { parent: ctx.parent, dependsOn: ctx.apis, ...extra };
}
