"""Mechanics every cloud provider shares, written once (no cloud SDK is imported here):

- :mod:`.names`    deterministic remote job names derived from the anytune job id
- :mod:`.layout`   where things live in a bucket: ``<prefix>/datasets/<content-hash>/<split>.jsonl``, code, output
- :mod:`.bundle`   the trainer bundle shipped to training containers: anytune's source, requirements, spec.json
- :mod:`.model`    a base model given as a local folder, hashed so it is uploaded once
- :mod:`.entry`    ``python -m anytune.cloud.entry --base-model PATH ...``: the trainer with that uploaded model
- :mod:`.instances` the priced instance a job runs on (the option, else the cheapest that fits)
- :mod:`.transfer` a byte counter with a progress bar for the vendors' transfer managers
- :mod:`.retry`    one retry/timeout policy each provider hands to its SDK's own retry machinery
"""
