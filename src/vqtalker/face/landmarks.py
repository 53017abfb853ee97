"""Index sets of mediapipe's 478-point face mesh (``refine_landmarks=True`` ordering): topology facts."""

LEFT_EYE = [249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466]
RIGHT_EYE = [7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246]
LIPS = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
        267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]
LEFT_IRIS = [473, 474, 475, 476, 477]  # 473 = centre
RIGHT_IRIS = [468, 469, 470, 471, 472]  # 468 = centre
# eye-aspect-ratio points: p1 outer corner, p2/p3 upper lid, p4 inner corner, p5/p6 lower lid
EAR_LEFT = (263, 387, 385, 362, 380, 373)
EAR_RIGHT = (33, 160, 158, 133, 153, 144)
# rigid points for the pose fit: upper face outline (no jaw), nose, eye corners, forehead
RIGID = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 109, 67, 103, 54, 21, 162, 127, 234, 93,
         1, 2, 4, 5, 6, 168, 197, 195, 98, 327, 33, 133, 362, 263, 9, 151, 108, 337]

#: inner-lip points whose distance is the mouth opening (upper / lower lip centre)
INNER_LIP_TOP, INNER_LIP_BOTTOM = 13, 14
