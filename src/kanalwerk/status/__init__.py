"""`kanalwerk status`: what it reports and its JSON shape (`report`), and how it reads them
from the config and the store without writing either (`read`)."""
