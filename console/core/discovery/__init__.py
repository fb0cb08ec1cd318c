"""Discovery's pure parts: the scripts sent to servers, assembling what they print into
an Inventory, and the cluster-wide findings."""
