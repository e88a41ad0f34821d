/** `npm stop`: stops the emulator that `npm start -- --detach` (or a crashed run) left behind. */
import { stopEmulator } from './lib/emulator';

console.log((await stopEmulator()) ? 'Emulator stopped.' : 'No emulator started by this project is running.');
