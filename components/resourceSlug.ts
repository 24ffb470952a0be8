/** A name fit for Google resource ids: lowercase letters, digits and dashes, starting with a letter. */
export function resourceSlug(name: string, maxLength: number): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+/g, "-")
    .slice(0, maxLength)
    .replace(/-+$/, "");
  return slug || "model";
}
