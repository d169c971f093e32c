import { z } from "zod";
import { VERSION } from "../version.js";
import { Spec } from "./schema.js";

/** The JSON Schema of a spec as written (defaults optional), generated so it cannot drift. */
export function specJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(Spec, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return { ...schema, title: `Aviary spec (aviary ${VERSION})` };
}
