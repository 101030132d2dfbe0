"""Windows Server over WinRM: the PowerShell scripts, their parsers and the install protocol.

* :mod:`.bootstrap` - the command line that runs a script sent on stdin (any length)
* :mod:`.markers` - how every script names its operation and parameters (the contract the
  test emulator reads)
* :mod:`.records` - the JSON-lines output every script prints, ending with an exit record
* :mod:`.scripts` - the rendered scripts: scan, boot identity, reboot, pending reboot, hook
* :mod:`.parsers` - scan records to :class:`fleetpatch.facts.HostFacts` (pure)
* :mod:`.jobs` - detached jobs as SYSTEM scheduled tasks (:class:`WindowsJobs`)
* :mod:`.install` - the install job script and its journal's verdicts
* :mod:`.rounds` - install rounds and loop detection (pure)
"""
