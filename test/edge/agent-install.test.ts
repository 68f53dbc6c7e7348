import { describe } from 'vitest';
import { startTestBroker } from './helpers/aedes-broker';
import { defineInstallSuite } from './suites/install-suite';

defineInstallSuite(describe, 'embedded aedes, MQTT 3.1.1', () => startTestBroker(), 4);
