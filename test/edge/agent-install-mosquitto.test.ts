import { describeWithMosquitto, MOSQUITTO_URL } from '../helpers/services';
import { defineInstallSuite } from './suites/install-suite';

// The same suite against the Mosquitto on 127.0.0.1:1883, with the agent speaking MQTT 5.
defineInstallSuite(await describeWithMosquitto(), 'Mosquitto, MQTT 5', async () => ({ url: MOSQUITTO_URL, close: async () => {} }), 5);
