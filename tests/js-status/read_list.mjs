// Reads a Status List Token (draft-ietf-oauth-status-list) with @sd-jwt/jwt-status-list and
// prints the statuses at the indices given: node read_list.mjs <jwt file> <idx>...
import { readFileSync } from "node:fs";
import { getListFromStatusListJWT } from "@sd-jwt/jwt-status-list";

const [file, ...indices] = process.argv.slice(2);
const list = getListFromStatusListJWT(readFileSync(file, "utf8").trim());
const statuses = Object.fromEntries(indices.map((i) => [i, list.getStatus(Number(i))]));
process.stdout.write(JSON.stringify({ bits: list.getBitsPerStatus(), statuses }));
