// The local store's files: one JSON file per object and a version file,
// each replaced atomically (written to a temp file, then renamed), so a crash
// leaves either the old or the new content, never half of one. Layout:
//   <stateDir>/version                            highest resourceVersion reserved
//   <stateDir>/objects/<Kind>/<namespace>/<name>.json
//   <stateDir>/objects/<Kind>/<name>.json         (cluster-scoped)
import { promises as fs } from 'node:fs';
import { join, dirname } from 'node:path';
import { AmbitError, systemCode, type Logger } from '@ambit/core';
import { RESOURCE_TYPES, isKind, type Kind, type KubeObject } from '../resources.js';
import { isPlainObject } from './merge-patch.js';

const OBJECTS_DIR = 'objects';
const VERSION_FILE = 'version';
// Files read at once when loading: start-up time matters with thousands of objects.
const LOAD_BATCH = 64;
const DAMAGED = 'the state directory is damaged; move the file away or restore it from a backup';

export class StateFiles {
  private readonly dirs = new Set<string>();
  private tempSeq = 0;

  constructor(readonly stateDir: string) {}

  async prepare(): Promise<void> {
    await fs.mkdir(join(this.stateDir, OBJECTS_DIR), { recursive: true, mode: 0o700 });
  }

  /** The reserved version (0 for a new directory). */
  async readVersion(): Promise<number> {
    const file = join(this.stateDir, VERSION_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if (systemCode(error) === 'ENOENT') return 0;
      throw error;
    }
    const version = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : undefined;
    if (version === undefined) {
      throw new AmbitError('invalid-resource', `state file ${file} does not hold a version: ${JSON.stringify(text.slice(0, 40))}`, { hint: DAMAGED });
    }
    return version;
  }

  async writeVersion(version: number): Promise<void> {
    await this.writeAtomic(join(this.stateDir, VERSION_FILE), `${version}\n`);
  }

  async writeObject(object: KubeObject): Promise<void> {
    await this.writeAtomic(this.fileOf(object), `${JSON.stringify(object, null, 2)}\n`);
  }

  async removeObject(object: KubeObject): Promise<void> {
    await fs.rm(this.fileOf(object), { force: true });
  }

  fileOf(object: Pick<KubeObject, 'kind' | 'metadata'>): string {
    const kind = object.kind as Kind;
    const { name, namespace } = object.metadata;
    return RESOURCE_TYPES[kind].namespaced
      ? join(this.stateDir, OBJECTS_DIR, kind, namespace ?? '', `${name}.json`)
      : join(this.stateDir, OBJECTS_DIR, kind, `${name}.json`);
  }

  /** Every stored object; temp files an interrupted write left behind are removed. */
  async loadObjects(logger: Logger): Promise<KubeObject[]> {
    const files: string[] = [];
    for (const entry of await fs.readdir(join(this.stateDir, OBJECTS_DIR), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = join(entry.parentPath, entry.name);
      if (entry.name.endsWith('.tmp')) {
        logger.info({ file }, 'removing an interrupted write');
        await fs.rm(file, { force: true });
      } else if (entry.name.endsWith('.json')) {
        files.push(file);
      }
    }
    const objects: KubeObject[] = [];
    for (let i = 0; i < files.length; i += LOAD_BATCH) {
      objects.push(...await Promise.all(files.slice(i, i + LOAD_BATCH).map(loadObject)));
    }
    return objects;
  }

  private async writeAtomic(file: string, text: string): Promise<void> {
    const dir = dirname(file);
    if (!this.dirs.has(dir)) {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      this.dirs.add(dir);
    }
    const temp = `${file}.${process.pid}.${++this.tempSeq}.tmp`;
    try {
      await fs.writeFile(temp, text, { mode: 0o600 });
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }
}

async function loadObject(file: string): Promise<KubeObject> {
  let object: unknown;
  try {
    object = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new AmbitError('invalid-resource', `state file ${file} is unreadable: ${(error as Error).message}`, { cause: error, hint: DAMAGED });
  }
  if (!isPlainObject(object) || typeof object.kind !== 'string' || !isKind(object.kind) || !isPlainObject(object.metadata)) {
    throw new AmbitError('invalid-resource', `state file ${file} does not hold a known object`, { hint: DAMAGED });
  }
  return object as KubeObject;
}
