// castle log dump FILE [--print-data] [--verify]: Kafka's DumpLogSegments for one segment file.

import { existsSync } from "node:fs";
import {
  ATTRIBUTE_CONTROL,
  ATTRIBUTE_TIMESTAMP_TYPE,
  ATTRIBUTE_TRANSACTIONAL,
  CompressionType,
  type DecodedRecord,
  decodeRecordBatch,
} from "@castle/protocol";
import { readSegmentFile } from "@castle/storage";
import type { Command } from "commander";
import { CliError } from "../support/cli-error.js";
import { globalOptions } from "../support/global-options.js";
import { printJson, printLine } from "../support/output.js";

interface Options {
  printData?: boolean;
  verify?: boolean;
}

function show(buffer: Buffer | null): string {
  return buffer === null ? "null" : buffer.toString("utf8");
}

function recordJson(record: DecodedRecord) {
  return {
    offset: record.offset,
    timestampMs: record.timestampMs,
    key: record.key === null ? null : record.key.toString("utf8"),
    value: record.value === null ? null : record.value.toString("utf8"),
    headers: record.headers.map((h) => ({ key: h.key, value: h.value === null ? null : h.value.toString("utf8") })),
  };
}

export function registerLogDump(log: Command): void {
  log
    .command("dump")
    .description("print the record batches of a segment file (like kafka-dump-log)")
    .argument("<file>", "a segment file, e.g. data/topic-0/00000000000000000000.log")
    .option("--print-data", "also print each record")
    .option("--verify", "exit 1 if a batch fails its CRC or the file ends inside a batch")
    .action((file: string, options: Options, command: Command) => {
      const globals = globalOptions(command);
      if (!existsSync(file))
        throw new CliError(`no such file: ${file}`, "give the path of a segment file (*.log) under a partition directory");
      const batches: unknown[] = [];
      let invalid = 0;
      let torn: { position: number; bytesRemaining: number; reason: string } | undefined;
      if (!globals.json) printLine(`Dumping ${file}`);
      for (const entry of readSegmentFile(file)) {
        if (entry.kind === "torn") {
          torn = { position: entry.position, bytesRemaining: entry.bytesRemaining, reason: entry.reason };
          if (!globals.json) printLine(`Found ${entry.bytesRemaining} invalid bytes at position ${entry.position}: ${entry.reason}`);
          break;
        }
        const h = entry.header;
        if (!entry.crcValid) invalid++;
        const compression = (CompressionType[h.attributes & 0x07] ?? String(h.attributes & 0x07)).toLowerCase();
        const timestampType = h.attributes & ATTRIBUTE_TIMESTAMP_TYPE ? "LogAppendTime" : "CreateTime";
        let records: DecodedRecord[] = [];
        let decodeError: string | undefined;
        if (options.printData && entry.crcValid) {
          try {
            records = decodeRecordBatch(entry.batch, 0).records;
          } catch (error) {
            decodeError = (error as Error).message;
          }
        }
        const summary = {
          baseOffset: h.baseOffset,
          lastOffset: h.baseOffset + h.lastOffsetDelta,
          count: h.recordCount,
          baseSequence: h.baseSequence,
          producerId: h.producerId,
          producerEpoch: h.producerEpoch,
          partitionLeaderEpoch: h.partitionLeaderEpoch,
          isTransactional: (h.attributes & ATTRIBUTE_TRANSACTIONAL) !== 0,
          isControl: (h.attributes & ATTRIBUTE_CONTROL) !== 0,
          position: entry.position,
          timestampType,
          baseTimestamp: h.baseTimestamp,
          maxTimestamp: h.maxTimestamp,
          size: entry.sizeBytes,
          magic: h.magic,
          compression,
          crc: h.crc,
          isValid: entry.crcValid,
        };
        if (globals.json) {
          batches.push(options.printData ? { ...summary, records: records.map(recordJson), decodeError } : summary);
          continue;
        }
        printLine(
          `baseOffset: ${summary.baseOffset} lastOffset: ${summary.lastOffset} count: ${summary.count} baseSequence: ${summary.baseSequence} producerId: ${summary.producerId} producerEpoch: ${summary.producerEpoch} partitionLeaderEpoch: ${summary.partitionLeaderEpoch} isTransactional: ${summary.isTransactional} isControl: ${summary.isControl} position: ${summary.position} ${timestampType}: ${summary.maxTimestamp} size: ${summary.size} magic: ${summary.magic} compresscodec: ${compression} crc: ${summary.crc} isvalid: ${summary.isValid}`,
        );
        if (decodeError !== undefined) printLine(`| cannot decode the records: ${decodeError}`);
        for (const r of records) {
          const headers = r.headers.map((x) => `${x.key}=${show(x.value)}`).join(",");
          printLine(
            `| offset: ${r.offset} ${timestampType}: ${r.timestampMs} keySize: ${r.key?.length ?? -1} valueSize: ${r.value?.length ?? -1} headers: [${headers}] key: ${show(r.key)} payload: ${show(r.value)}`,
          );
        }
      }
      if (globals.json) printJson({ file, batches, torn: torn ?? null, invalidBatches: invalid });
      if (options.verify) {
        if (invalid > 0 || torn !== undefined) {
          throw new CliError(
            `${file} failed verification: ${invalid} batch(es) with a bad CRC${torn ? `, and the file ends inside a batch at position ${torn.position}` : ""}`,
            "the node truncates a torn tail on recovery; a bad CRC in the middle means disk corruption",
          );
        }
        if (!globals.json) printLine("Verified: every batch has a valid CRC and the file ends on a batch boundary.");
      }
    });
}
