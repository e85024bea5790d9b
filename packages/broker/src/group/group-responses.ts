// Small builders for the coordinator's answers: an error as the {errorCode, errorMessage} pair
// every result carries, and the failed forms of JoinGroup and SyncGroup answers.

import { type ErrorName, errorInfo, type JoinGroupResponseInput, type SyncGroupResponseInput } from "@castle/protocol";
import type { ErrorFields } from "../handlers/error-result.js";
import { EMPTY_BYTES } from "./group-member.js";

export function failure(name: ErrorName, message: string): ErrorFields {
  return { errorCode: errorInfo(name).code, errorMessage: message };
}

export function joinFailure(error: ErrorFields, memberId: string): JoinGroupResponseInput {
  return { ...error, generationId: -1, protocolType: "", protocolName: "", leader: "", memberId, members: [] };
}

export function syncFailure(error: ErrorFields): SyncGroupResponseInput {
  return { ...error, protocolType: "", protocolName: "", assignment: EMPTY_BYTES };
}
