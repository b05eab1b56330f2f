// The control plane on the embedded local backend, end to end.
import { controlPlaneScenario } from '../support/control-plane-scenario.js';
import { runControlPlane } from '../support/control-plane.js';

controlPlaneScenario('local backend', () => runControlPlane());
