"""Inter-agency document exchange: edXML packages (QCVN 102:2016) and their checks."""
