/**
 * Naming another package's zod object schemas as OpenAPI components.
 * @module
 */
import { z } from '@hono/zod-openapi'
import type { ZodRawShape } from 'zod'

/**
 * Rebuilds `schema` with this package's zod and names it `refId` in the OpenAPI document.
 *
 * The shapes come from `@keywarden/mcp-server`, whose zod may be another copy than the one
 * `@hono/zod-openapi` extends (npm installs one per package when it cannot share it, as in a
 * global install). `.openapi()` exists only on the extended copy, so it is never called on a
 * schema from outside: the object is rebuilt here, and its fields are read by their definitions,
 * which every zod 4 copy shares.
 */
export function namedSchema<Shape extends ZodRawShape>(
  schema: { readonly shape: Shape },
  refId: string,
) {
  return z.object(schema.shape).openapi(refId)
}
