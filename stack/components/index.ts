import type { Component } from '../lib/types.ts';
import { clickhouse } from './clickhouse.ts';
import { connect } from './connect.ts';
import { kafka } from './kafka.ts';
import { postgres } from './postgres.ts';
import { registry } from './registry.ts';
import { simulator } from './simulator.ts';
import { temporal } from './temporal.ts';

/** Every long-running component of the native stack, in a sensible start order. */
export const allComponents: Component[] = [postgres, kafka, registry, clickhouse, temporal, simulator, connect];
