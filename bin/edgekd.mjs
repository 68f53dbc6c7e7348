#!/usr/bin/env node
// The `edgekd` command. TypeScript sources run through tsx, so `npx edgekd` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./edgekd-main.ts');
process.exitCode = await main(process.argv.slice(2));
